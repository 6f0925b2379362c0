-- Resource tags (createTags / deleteTags / listTags, and the tags[i].key/value filters of list
-- commands). A tag belongs to one resource of one type, named by its internal id and its uuid;
-- its owner is the resource's owner. One key per resource.
CREATE TABLE resource_tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    tag_key TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id BIGINT NOT NULL,
    resource_uuid TEXT NOT NULL,
    account_id BIGINT,
    domain_id BIGINT,
    customer TEXT,
    created BIGINT NOT NULL
);
CREATE UNIQUE INDEX resource_tags_key ON resource_tags (resource_type, resource_id, tag_key);
CREATE INDEX resource_tags_pair ON resource_tags (resource_type, tag_key, tag_value);
