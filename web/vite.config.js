// Vite builds the app into dist/, which the C server serves at / (WEB_ROOT).
// In development (`npm run dev`), Vite serves the app on :5173 and proxies
// the server's endpoints to TC_SERVER (default http://localhost:4000), so the
// app talks to the same origin either way.
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

const server = process.env.TC_SERVER || 'http://localhost:4000'

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  server: {
    port: 5173,
    proxy: {
      '/auth/v1': server,
      '/rest/v1': server,
      '/metrics': server,
      '/health': server,
      '/config.json': server, // the anon key, written into web/dist by scripts/run.sh
      '/realtime/v1': { target: server, ws: true },
    },
  },
})
