-- Account lifecycle: failed log-ins (lock-out), a user's time zone, and the network domain of
-- accounts and domains (updateUser, updateAccount, updateDomain).
ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN timezone TEXT;
ALTER TABLE accounts ADD COLUMN network_domain TEXT;
ALTER TABLE domains ADD COLUMN network_domain TEXT;
