-- Affinity groups (createAffinityGroup): a placement rule and its member instances. A name is
-- unique per owner account. Membership is set at deploy and removed when the instance is
-- expunged or the group deleted; placement reads it to keep members apart or together.
CREATE TABLE affinity_groups (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    group_type TEXT NOT NULL,
    account_id BIGINT NOT NULL,
    domain_id BIGINT NOT NULL,
    created BIGINT NOT NULL,
    UNIQUE (account_id, name)
);
CREATE TABLE affinity_group_members (
    group_id BIGINT NOT NULL,
    instance_id BIGINT NOT NULL,
    PRIMARY KEY (group_id, instance_id)
);
CREATE INDEX idx_affinity_members_instance ON affinity_group_members (instance_id);
