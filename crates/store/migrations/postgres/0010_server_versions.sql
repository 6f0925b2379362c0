-- The version each management server runs (listManagementServers).
ALTER TABLE servers ADD COLUMN version TEXT;
