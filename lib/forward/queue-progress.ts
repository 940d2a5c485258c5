// The figures behind `enkg worker`'s progress line: what the worker did since
// the last line and since it started (jobs, particles and how many of them
// failed, jobs refused or skipped), how fast it evaluated, and how long it
// sat with no job in hand, so that a person reading the log sees at a glance
// whether a worker is busy, idle, or failing.

export interface WorkerCounts {
  /** Jobs evaluated (their measurements stored), and their particles. */
  jobs: number;
  particles: number;
  /** Particles whose evaluation failed (stored as failures of their job). */
  failedParticles: number;
  /**
   * Jobs failed for good without a result: malformed, asking for another
   * model or refused options, their fields missing, or a model that returned
   * the wrong number of values.
   */
  refusedJobs: number;
  /** Jobs of a coordinator that is gone (its heartbeat lapsed), skipped without evaluation. */
  skippedJobs: number;
}

const zero = (): WorkerCounts => ({ jobs: 0, particles: 0, failedParticles: 0, refusedJobs: 0, skippedJobs: 0 });

/** Particles per second with three significant figures at most (12.8, 0.35, 1234). */
function rate(particles: number, ms: number): string {
  const r = ms > 0 ? particles / (ms / 1000) : 0;
  return r >= 100 ? r.toFixed(0) : Number(r.toPrecision(3)).toString();
}

const seconds = (ms: number): string => (ms / 1000).toFixed(1);

export class WorkerTally {
  /** Since the worker started. */
  readonly total: WorkerCounts = zero();
  private window: WorkerCounts = zero();
  private windowStart: number;
  private idleMs = 0;
  private idleSince: number;
  private inHand = 0;

  constructor(now = Date.now()) {
    this.windowStart = now;
    this.idleSince = now;
  }

  /** A job was taken (idle time stops counting while any job is in hand). */
  took(now = Date.now()): void {
    if (this.inHand++ === 0) this.idleMs += now - this.idleSince;
  }

  /** A job was let go of, whatever became of it. */
  released(now = Date.now()): void {
    if (--this.inHand === 0) this.idleSince = now;
  }

  evaluated(particles: number, failedParticles: number): void {
    for (const c of [this.total, this.window]) {
      c.jobs++;
      c.particles += particles;
      c.failedParticles += failedParticles;
    }
  }

  refused(): void {
    this.total.refusedJobs++;
    this.window.refusedJobs++;
  }

  skipped(): void {
    this.total.skippedJobs++;
    this.window.skippedJobs++;
  }

  /**
   * One line on the time since the previous line (or the start), and the
   * totals; starts the next window. For example:
   * 2025-01-01T10:00:00.000Z last 60.0 s: 12 jobs, 768 particles (12.8/s, 3 failed), 0 jobs refused,
   * 2 skipped (coordinator gone), idle 4.1 s, 1 in hand; since start: 40 jobs, 2560 particles (3 failed), 0 refused, 2 skipped
   */
  line(now = Date.now()): string {
    const w = this.window, t = this.total;
    const elapsed = now - this.windowStart;
    let idle = this.idleMs;
    if (this.inHand === 0) idle += now - this.idleSince;
    const text = `${new Date(now).toISOString()} last ${seconds(elapsed)} s: ${w.jobs} jobs, ${w.particles} particles `
      + `(${rate(w.particles, elapsed)}/s, ${w.failedParticles} failed), ${w.refusedJobs} jobs refused, `
      + `${w.skippedJobs} skipped (coordinator gone), idle ${seconds(idle)} s, ${this.inHand} in hand; `
      + `since start: ${t.jobs} jobs, ${t.particles} particles (${t.failedParticles} failed), ${t.refusedJobs} refused, ${t.skippedJobs} skipped`;
    this.window = zero();
    this.windowStart = now;
    this.idleMs = 0;
    if (this.inHand === 0) this.idleSince = now;
    return text;
  }
}
