// enkg solve --queue as real processes (dist/: npm run build:ts first): the
// same particles as the in-process run with 2 worker processes; the
// coordinator killed with SIGKILL resumes (enkg resume keeps --queue) to the
// same particles; a malformed or unreachable --queue is refused before any
// work.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { CHECKPOINT_FILE, loadCheckpoint, readNpy } from '../lib';
import { NS_PRIOR_64 } from '../lib/paths';
import { CLI, freePort, makeTlsFiles, REDIS_SERVER, RedisServer, startRedis, startWorker, waitFor, WorkerProcess } from './helpers/redis';

const ready = REDIS_SERVER !== undefined && fs.existsSync(CLI) && fs.existsSync(NS_PRIOR_64);
if (!ready) console.warn('Skipping the enkg solve --queue checks: redis-server, dist/ (npm run build:ts) or the shipped prior is missing');

const SIZES = ['navier-stokes', '--ensemble', '8', '--steps', '6', '--time', '0.25', '--restart', 'none', '--backend', 'cpu', '--quiet'];
const env = { ...process.env, ENKG_BACKEND: 'cpu' };

const bytesOf = async (file: string) => Buffer.from(((await readNpy(file)).data as Float32Array).buffer);

(ready ? describe : describe.skip)('enkg solve --queue', () => {
  let redis: RedisServer;
  let dir: string;
  let reference: Buffer;
  let queueUrl: string;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    redis = await startRedis({ appendonly: true });
    queueUrl = `${redis.url}/solve`;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-queue-cli-'));
    const args = ['--redis', redis.url, '--queue', 'solve', '--model', 'navier-stokes', '--lock-ms', '2000'];
    workers.push(...await Promise.all([startWorker(args), startWorker(args)]));
    const run = spawnSync(process.execPath, [CLI, 'solve', ...SIZES, '--out', path.join(dir, 'reference')], { encoding: 'utf8', env, timeout: 120000 });
    expect(run.status).toBe(0);
    reference = await bytesOf(path.join(dir, 'reference', 'particles.npy'));
  }, 180000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill()));
    await redis?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30000);

  it('through the queue with 2 worker processes: the particles of the in-process run, bit for bit, and the same cost', () => {
    const out = path.join(dir, 'queued');
    const run = spawnSync(process.execPath, [CLI, 'solve', ...SIZES, '--out', out, '--queue', queueUrl], { encoding: 'utf8', env, timeout: 120000 });
    expect(run.stderr).toMatch(/forward evaluations/);
    expect(run.status).toBe(0);
    return bytesOf(path.join(out, 'particles.npy')).then((particles) => {
      expect(particles.equals(reference)).toBe(true);
      const result = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
      const first = JSON.parse(fs.readFileSync(path.join(dir, 'reference', 'result.json'), 'utf8'));
      expect(result.cost.forwardEvaluations).toBe(first.cost.forwardEvaluations);
      expect(result.metrics.misfit).toBe(first.metrics.misfit);
      // Both workers are still serving.
      expect(workers.every((w) => w.child.exitCode === null)).toBe(true);
    });
  }, 150000);

  it('the coordinator killed with SIGKILL mid-run resumes through the queue (enkg resume keeps --queue) to identical particles', async () => {
    const cp = path.join(dir, 'cp'), out = path.join(dir, 'resumed');
    const child = spawn(process.execPath, [CLI, 'solve', ...SIZES, '--out', out, '--checkpoint', cp, '--queue', queueUrl], { env, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`the solve exited (${child.exitCode}) before step 2`);
      const saved = fs.existsSync(path.join(cp, CHECKPOINT_FILE)) ? await loadCheckpoint(cp).catch(() => undefined) : undefined;
      return saved !== undefined && saved.state.step >= 2;
    }, 120000, 'step 2 to be saved');
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const resumed = spawnSync(process.execPath, [CLI, 'resume', cp, '--quiet'], { encoding: 'utf8', env, timeout: 120000 });
    expect(resumed.stderr).toMatch(/continuing at step [2-6] of 6: enkg .* --queue redis:\/\/127\.0\.0\.1:\d+\/solve/);
    expect(resumed.status).toBe(0);
    expect((await bytesOf(path.join(out, 'particles.npy'))).equals(reference)).toBe(true);
  }, 200000);

  it('a malformed --queue is a usage error (exit 2); an unreachable one fails (exit 1) before any output is made', async () => {
    const out = path.join(dir, 'never');
    const bad = spawnSync(process.execPath, [CLI, 'solve', ...SIZES, '--out', out, '--queue', 'redis://127.0.0.1:6379'], { encoding: 'utf8', env, timeout: 60000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("enkg: Expected a URL redis[s]://[user:password@]host[:port]/QUEUE for --queue but received 'redis://127.0.0.1:6379'");
    const port = await freePort();
    const gone = spawnSync(process.execPath, [CLI, 'solve', ...SIZES, '--out', out, '--queue', `redis://127.0.0.1:${port}/solve`], { encoding: 'utf8', env, timeout: 60000 });
    expect(gone.status).toBe(1);
    expect(gone.stderr).toMatch(new RegExp(`^enkg: Could not reach Redis at redis://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`, 'm'));
    expect(fs.existsSync(out)).toBe(false);
  }, 120000);

  it('a password stays out of the checkpoint: the solve takes it from the URL or ENKG_QUEUE_PASSWORD, and enkg resume asks for it by name', async () => {
    const locked = await startRedis({ password: 'pw-secret' });
    let worker: WorkerProcess | undefined;
    try {
      worker = await startWorker(['--redis', locked.url, '--queue', 'pw', '--model', 'navier-stokes']);
      const bare = `redis://127.0.0.1:${locked.port}/pw`;
      const cp = path.join(dir, 'cp-pw'), out = path.join(dir, 'pw-run');
      const run = spawnSync(process.execPath, [CLI, 'solve', ...SIZES, '--out', out, '--checkpoint', cp, '--queue', `${locked.url}/pw`],
        { encoding: 'utf8', env, timeout: 120000 });
      expect(run.status).toBe(0);
      expect((await bytesOf(path.join(out, 'particles.npy'))).equals(reference)).toBe(true);
      const argv = ((await loadCheckpoint(cp)).meta as { argv: string[] }).argv;
      expect(argv).toContain(bare);
      expect(fs.readFileSync(path.join(cp, CHECKPOINT_FILE)).includes('pw-secret')).toBe(false);
      // Resumed without the password: refused before any work, naming where to give it.
      const resumed = spawnSync(process.execPath, [CLI, 'resume', cp, '--quiet'], { encoding: 'utf8', env, timeout: 60000 });
      expect(resumed.status).toBe(1);
      expect(resumed.stderr).toMatch(/refused the credentials.*give it in ENKG_QUEUE_PASSWORD/);
      expect(resumed.stderr).not.toContain('pw-secret');
      // The same URL with the password in the environment.
      const fromEnv = spawnSync(process.execPath, [CLI, 'solve', ...SIZES, '--out', path.join(dir, 'pw-env'), '--queue', bare],
        { encoding: 'utf8', env: { ...env, ENKG_QUEUE_PASSWORD: 'pw-secret' }, timeout: 120000 });
      expect(fromEnv.status).toBe(0);
      expect((await bytesOf(path.join(dir, 'pw-env', 'particles.npy'))).equals(reference)).toBe(true);
    } finally {
      await worker?.kill();
      await locked.stop();
    }
  }, 300000);

  it('TLS (rediss://, with a password): a worker and enkg solve --queue through a TLS-only Redis give the in-process particles; an untrusted certificate fails before any work', async () => {
    const tlsDir = fs.mkdtempSync(path.join(dir, 'tls-'));
    const files = makeTlsFiles(tlsDir);
    if (!files) {
      console.warn('Skipping the TLS check: openssl is missing');
      return;
    }
    const secure = await startRedis({ tls: files, password: 'tls-secret' });
    const trust = { NODE_EXTRA_CA_CERTS: files.ca };
    let worker: WorkerProcess | undefined;
    try {
      expect(secure.url).toMatch(/^rediss:\/\/:tls-secret@127\.0\.0\.1:\d+$/);
      // Without the CA the certificate is not trusted: a clear failure before any work.
      const untrusted = spawnSync(process.execPath, [CLI, 'worker', '--redis', secure.url, '--queue', 'tls', '--model', 'navier-stokes'],
        { encoding: 'utf8', env, timeout: 30000 });
      expect(untrusted.status).toBe(1);
      expect(untrusted.stderr).toMatch(/^enkg: Could not reach Redis at rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+: .*(self-signed|certificate)/m);
      worker = await startWorker(['--redis', secure.url, '--queue', 'tls', '--model', 'navier-stokes'], trust);
      const out = path.join(dir, 'tls-run');
      const run = spawnSync(process.execPath, [CLI, 'solve', ...SIZES, '--out', out, '--queue', `${secure.url}/tls`],
        { encoding: 'utf8', env: { ...env, ...trust }, timeout: 120000 });
      expect(run.stderr).toMatch(/forward evaluations/);
      expect(run.status).toBe(0);
      expect((await bytesOf(path.join(out, 'particles.npy'))).equals(reference)).toBe(true);
    } finally {
      await worker?.kill();
      await secure.stop();
    }
  }, 200000);
});
