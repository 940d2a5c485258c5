// A progress bar on stderr: redrawn in place on a terminal, a line every 10%
// otherwise (so CI logs stay short).

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${Math.round((s % 3600) / 60)}m`;
}

export class ProgressBar {
  private readonly started = Date.now();
  private lastDecile = -1;

  constructor(private total: number, private readonly unit: string,
    private readonly stream: NodeJS.WriteStream = process.stderr) {}

  /** A new total, for work whose size is known only once it runs (a run's own step count). */
  resize(total: number): void {
    this.total = total;
  }

  update(done: number, extra = ''): void {
    const elapsed = (Date.now() - this.started) / 1000;
    const rate = done / Math.max(elapsed, 1e-9);
    const eta = done > 0 ? (this.total - done) / rate : Number.NaN;
    const fraction = this.total > 0 ? done / this.total : 1;
    const text = `${done}/${this.total} ${this.unit}  ${rate.toFixed(1)} ${this.unit}/s  elapsed ${formatSeconds(elapsed)}` +
      `  ETA ${formatSeconds(eta)}${extra ? `  ${extra}` : ''}`;
    if (this.stream.isTTY) {
      const width = 30;
      const filled = Math.round(fraction * width);
      this.stream.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${text}\x1b[K`);
      if (done >= this.total) this.stream.write('\n');
    } else {
      const decile = Math.floor(fraction * 10);
      if (decile !== this.lastDecile || done >= this.total) {
        this.lastDecile = decile;
        this.stream.write(`${(fraction * 100).toFixed(0)}% ${text}\n`);
      }
    }
  }
}
