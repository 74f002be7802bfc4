// ws-fanout: the fan-out server a developer writes in an afternoon with the
// `ws` package, as a peer for bench/run.sh. One Node process (Node runs
// JavaScript on one thread, so this uses one core whatever the machine has).
//   {"topic":"t","join":1}        joins topic t; answered {"joined":"t"}
//   {"topic":"t","payload":{...}} relayed as sent to every other socket in t
// No auth, no heartbeats, no limits. PORT (default 4103), HOST (127.0.0.1).
import http from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.env.PORT || 4103);
const host = process.env.HOST || '127.0.0.1';
const topics = new Map(); // topic -> Set of sockets

const server = http.createServer((req, res) => res.writeHead(426).end());
const wss = new WebSocketServer({ server });

wss.on('connection', (ws) => {
  const joined = new Set();
  ws.on('message', (data, isBinary) => {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof msg.topic !== 'string') return;
    if (msg.join) {
      let subs = topics.get(msg.topic);
      if (!subs) topics.set(msg.topic, (subs = new Set()));
      subs.add(ws);
      joined.add(msg.topic);
      ws.send(JSON.stringify({ joined: msg.topic }));
      return;
    }
    const subs = topics.get(msg.topic);
    if (!subs) return;
    for (const peer of subs) {
      if (peer !== ws && peer.readyState === 1) peer.send(data, { binary: isBinary });
    }
  });
  ws.on('close', () => {
    for (const t of joined) {
      const subs = topics.get(t);
      subs.delete(ws);
      if (subs.size === 0) topics.delete(t);
    }
  });
  ws.on('error', () => {});
});

// A backlog as large as the other servers' so connect bursts are not dropped.
server.listen({ port, host, backlog: 4096 }, () => console.log(`ws-fanout listening on ${host}:${port}`));
