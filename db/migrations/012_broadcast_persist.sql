-- 012_broadcast_persist.sql — what the server needs on realtime.messages for
-- persisted broadcasts (realtime-js send(..., {persist}) and
-- httpSend(..., {persist: true | {ttl}})) and their replay.
--
--   tc_expires_at  the end of a persisted broadcast's ttl (seconds from
--                  realtime-js), in the same clock as inserted_at (now() in
--                  the session's time zone). NULL: kept for the table's
--                  retention (realtime.send's rows, persist: true). The replay
--                  skips expired rows; the rows themselves go with the
--                  table's retention (3 days), which also bounds every ttl.
--   tc_delivered   true on rows the server inserted for a broadcast it
--                  delivered to live subscribers itself (persist). The
--                  replication path (Broadcast from Database) must skip
--                  them, or a subscriber would get them twice.
--
-- ALTER TABLE on the parent reaches every partition, so this holds whether
-- realtime.messages is a plain table (003) or partitioned by day.
alter table realtime.messages add column if not exists tc_expires_at timestamp;
alter table realtime.messages add column if not exists tc_delivered boolean not null default false;
