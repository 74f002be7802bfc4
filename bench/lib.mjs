// What the Node halves of the benchmarks share: one psql session as the
// superuser (the writer's backend stays, so its CPU can be counted), and
// CPU ticks from /proc.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

export const PSQL = '/usr/lib/postgresql/15/bin/psql';

/** One psql session; run(sql) resolves its output (trimmed) or rejects
 * with the error PostgreSQL printed. Statements run in order. */
export class Psql {
  constructor(conninfo) {
    this.p = spawn(PSQL, ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=0', conninfo], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.out = '';
    this.err = '';
    this.seq = 0;
    this.queue = [];
    this.p.stdout.setEncoding('utf8');
    this.p.stderr.setEncoding('utf8');
    this.p.stdout.on('data', (d) => { this.out += d; this.pump(); });
    this.p.stderr.on('data', (d) => { this.err += d; this.pump(); });
    this.p.on('close', (code) => { for (const q of this.queue.splice(0)) q.reject(new Error(`psql exited ${code}: ${this.err}`)); });
  }
  // Each statement is followed by a marker on both streams: what came
  // before it on each is that statement's output and errors.
  pump() {
    while (this.queue.length) {
      const q = this.queue[0];
      const io = this.out.indexOf(q.marker);
      const ie = this.err.indexOf(q.marker);
      if (io < 0 || ie < 0) return;
      const out = this.out.slice(0, io);
      const err = this.err.slice(0, ie);
      this.out = this.out.slice(io + q.marker.length + 1);
      this.err = this.err.slice(ie + q.marker.length + 1);
      this.queue.shift();
      if (/(ERROR|FATAL|PANIC):/.test(err)) q.reject(new Error(`SQL failed: ${err.trim()}`));
      else q.resolve(out.trim());
    }
  }
  run(sql) {
    const marker = `__bench_end_${++this.seq}__`;
    return new Promise((resolve, reject) => {
      this.queue.push({ marker, resolve, reject });
      this.p.stdin.write(`${sql};\n\\echo ${marker}\n\\warn ${marker}\n`);
    });
  }
  close() { this.p.stdin.end('\\q\n'); }
}

/** A process's parent and CPU ticks (utime + stime, 1/100 s), or null once
 * it is gone. */
export function procStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return null;
  }
}

/** CPU ticks of a process and its children (PostgreSQL: the postmaster
 * and every backend). */
export function treeTicks(pid) {
  let t = procStat(pid)?.ticks ?? 0;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = procStat(d);
    if (st && st.ppid === pid) t += st.ticks;
  }
  return t;
}
