-- Projects (createProject): every project owns a hidden project account (account_id) that owns
-- the project's resources; member accounts use them with a role (Admin or Regular). A deleted
-- project keeps its row (removed) like an account; names are unique per domain among the live.
CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    display_text TEXT NOT NULL,
    account_id BIGINT NOT NULL UNIQUE,
    domain_id BIGINT NOT NULL,
    state TEXT NOT NULL,
    created BIGINT NOT NULL,
    removed BIGINT
);
CREATE TABLE project_members (
    project_id BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    role TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (project_id, account_id)
);
CREATE INDEX idx_project_members_account ON project_members (account_id);
