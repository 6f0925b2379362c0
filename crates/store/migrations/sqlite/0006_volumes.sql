-- Volumes. Every instance has one metadata-only ROOT volume (device 0): External instances keep
-- their disks on the extension's side, but clients (Packer, Terraform, Ansible) look the ROOT
-- volume up. Its size, state and owner follow the instance; the row gives it an identity. Rows
-- for instances made before this table are added when the server starts.
CREATE TABLE volumes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    instance_id BIGINT NOT NULL,
    volume_type TEXT NOT NULL,
    device_id BIGINT NOT NULL,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE UNIQUE INDEX volumes_instance_device ON volumes (instance_id, device_id);
