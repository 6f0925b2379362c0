-- Disk offerings (createDiskOffering). External instances take no data volume: an offering is
-- validated at deploy and recorded on the instance. Deleted offerings keep their row (removed).
CREATE TABLE disk_offerings (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    display_text TEXT NOT NULL,
    disk_size BIGINT NOT NULL,
    customized BIGINT NOT NULL,
    storage_type TEXT NOT NULL,
    provisioning_type TEXT NOT NULL,
    zone_id BIGINT,
    created BIGINT NOT NULL,
    removed BIGINT
);
