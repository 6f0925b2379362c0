-- Resource limits set for an account (projects through their project account) or a domain; a
-- type without a row follows the max.account.* / max.project.* / max.domain.* settings.
CREATE TABLE resource_limits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    owner_kind TEXT NOT NULL,
    owner_id BIGINT NOT NULL,
    resource_type BIGINT NOT NULL,
    max_value BIGINT NOT NULL,
    UNIQUE (owner_kind, owner_id, resource_type)
);
