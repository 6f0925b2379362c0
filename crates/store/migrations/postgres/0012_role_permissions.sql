-- Dynamic roles: the ordered allow/deny rules of a role, and roles that can be hidden or removed.
CREATE TABLE role_permissions (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    role_id BIGINT NOT NULL,
    rule TEXT NOT NULL,
    permission TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    sort_order BIGINT NOT NULL
);
CREATE INDEX role_permissions_by_role ON role_permissions (role_id, sort_order);
ALTER TABLE roles ADD COLUMN is_public BIGINT NOT NULL DEFAULT 1;
ALTER TABLE roles ADD COLUMN removed BIGINT;
