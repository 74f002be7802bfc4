// The app's realtime module: one service per signed-in client
// (createRealtime) and lists of rows kept whole through it (liveRows).
// No React, no import of supabase-js: the caller hands in its client, so
// Node tests drive the same code the browser runs.
export { createRealtime } from './realtime.js';
export { liveRows, parseLsn } from './live-rows.js';
