// The one place the app imports the realtime module from.
export { createRealtime, liveRows } from './realtime/index.js'
