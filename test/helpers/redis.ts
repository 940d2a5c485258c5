// A redis-server of the test's own (Debian's redis-server 7, installed by
// .ci/run): on 127.0.0.1 at a free port, in a temporary folder, stopped
// afterwards; and `enkg worker` processes from dist/. No system service is
// assumed and every wait is bounded.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import IORedis from 'ioredis';

export const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((f) => fs.existsSync(f));
export const CLI = path.resolve(__dirname, '..', '..', 'dist', 'cli', 'main.js');

/** A port nobody listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` every 50 ms until it returns true, for at most `ms`. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and starts it again at the same port and folder. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  appendonly?: boolean;
  password?: string;
  maxmemoryPolicy?: string;
  /** TLS only (no plain port): the server's certificate and key and the CA that signed it (PEM files). */
  tls?: TlsFiles;
}

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/**
 * A throwaway CA and a server certificate for 127.0.0.1 signed by it, made
 * with openssl in `dir`; undefined where openssl is missing.
 */
export function makeTlsFiles(dir: string): TlsFiles | undefined {
  const openssl = ['/usr/bin/openssl', '/usr/local/bin/openssl'].find((f) => fs.existsSync(f));
  if (!openssl) return undefined;
  const f = (name: string) => path.join(dir, name);
  const run = (args: string[]) => execFileSync(openssl, args, { stdio: 'ignore' });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=enkg test CA']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  fs.writeFileSync(f('san.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  run(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'),
    '-days', '2', '-extfile', f('san.cnf')]);
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  if (!REDIS_SERVER) throw new Error('redis-server is not installed (.ci/run installs Debian\'s redis-server)');
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-redis-'));
  const tls = options.tls;
  const args = [
    ...(tls ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key,
      '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no'] : ['--port', String(port)]),
    '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no',
    '--appendonly', options.appendonly ? 'yes' : 'no', '--appendfsync', 'always',
    '--maxmemory-policy', options.maxmemoryPolicy ?? 'noeviction', '--logfile', path.join(dir, 'redis.log'),
    ...(options.password ? ['--requirepass', options.password] : []),
  ];
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(REDIS_SERVER, args, { stdio: 'ignore' });
    const probe = new IORedis({
      port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0,
      ...(options.password ? { password: options.password } : {}), ...(tls ? { tls: { ca: fs.readFileSync(tls.ca) } } : {}),
    });
    probe.on('error', () => undefined);
    try {
      await waitFor(async () => {
        try {
          if (probe.status !== 'ready') await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          probe.disconnect();
          return false;
        }
      }, 10000, `redis-server on port ${port}`);
    } finally {
      probe.disconnect();
    }
  };
  const halt = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  await launch();
  return {
    port, dir,
    url: `${tls ? 'rediss' : 'redis'}://${options.password ? `:${options.password}@` : ''}127.0.0.1:${port}`,
    restart: async () => { await halt(); await launch(); },
    stop: async () => { await halt(); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

export interface WorkerProcess {
  child: ChildProcess;
  /** stderr so far. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL (if still running) and wait for the exit. */
  kill(): Promise<void>;
}

/** `enkg worker` as a process; resolves once it says it is serving (at most 20 s). */
export async function startWorker(args: string[], env: NodeJS.ProcessEnv = {}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [CLI, 'worker', ...args], { env: { ...process.env, ENKG_BACKEND: 'cpu', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const worker: WorkerProcess = {
    child, exited, output: () => stderr,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  try {
    await waitFor(() => /serving model/.test(stderr) || child.exitCode !== null, 20000, 'the worker to start');
  } catch (error) {
    await worker.kill();
    throw error;
  }
  if (child.exitCode !== null) throw new Error(`enkg worker exited with ${child.exitCode}: ${stderr}`);
  return worker;
}

/** Keys of the enkg particle data and BullMQ jobs left in Redis for queue `queue`. */
export async function leftovers(url: string, queue: string): Promise<{ dataKeys: string[]; jobs: number }> {
  const client = new IORedis(url, { maxRetriesPerRequest: 1 });
  try {
    const dataKeys = await client.keys(`enkg:${queue}:*`);
    const jobKeys = (await client.keys(`bull:${queue}:*`)).filter((k) => /^bull:[^:]+:[^:]+\.\d+\.\d+$/.test(k));
    return { dataKeys, jobs: jobKeys.length };
  } finally {
    client.disconnect();
  }
}
