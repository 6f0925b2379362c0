-- One alert per type and subject: a repeated raise refreshes last_sent (alert_raise upserts on
-- this index). Earlier versions could insert duplicates when servers raised the same alert at
-- once; keep the oldest row of each pair, with the latest last_sent.
UPDATE alerts SET last_sent = (
    SELECT MAX(a2.last_sent) FROM alerts a2
    WHERE a2.type_id = alerts.type_id AND a2.subject = alerts.subject
);
DELETE FROM alerts WHERE id NOT IN (
    SELECT MIN(id) FROM alerts GROUP BY type_id, subject
);
CREATE UNIQUE INDEX alerts_type_subject ON alerts (type_id, subject);
