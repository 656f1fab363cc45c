// Import progress on stderr: a redrawn bar with count, rate and ETA when
// stderr is a terminal, otherwise one plain line every few seconds (CI logs).

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const ttyRedrawMs = 100;
const plainLineMs = 3000;

export class Progress {
  private readonly startedMs: number;
  // A terminal gets the bar at once; a log gets its first line only after
  // plainLineMs, so short imports print just their summary.
  private lastDrawMs: number;
  private drawn = false;
  count = 0;
  private position = 0;

  constructor(
    private readonly out: ProgressOutput,
    private readonly label: string,
    /** Progress goes by points when their total is known, else by bytes. */
    private readonly total: { points?: number; bytes: number },
    private readonly now: () => number = () => performance.now(),
  ) {
    this.startedMs = now();
    this.lastDrawMs = out.isTTY ? -Infinity : this.startedMs;
  }

  update(count: number, position: number): void {
    this.count = count;
    this.position = position;
    const now = this.now();
    if (now - this.lastDrawMs < (this.out.isTTY ? ttyRedrawMs : plainLineMs)) return;
    this.lastDrawMs = now;
    this.draw(now);
  }

  /** Clear the bar; returns the totals for the summary line. */
  finish(): { count: number; seconds: number; rate: number } {
    const seconds = (this.now() - this.startedMs) / 1000;
    if (this.out.isTTY && this.drawn) this.out.write('\r\x1b[2K');
    return { count: this.count, seconds, rate: seconds > 0 ? this.count / seconds : 0 };
  }

  private fraction(): number | undefined {
    if (this.total.points) return Math.min(1, this.count / this.total.points);
    if (this.total.bytes) return Math.min(1, this.position / this.total.bytes);
    return undefined;
  }

  private draw(now: number): void {
    const seconds = (now - this.startedMs) / 1000;
    const rate = seconds > 0 ? this.count / seconds : 0;
    const f = this.fraction();
    const eta = f && f > 0 ? seconds * (1 - f) / f : undefined;
    const stats = `${formatCount(this.count)}${this.total.points ? `/${formatCount(this.total.points)}` : ''} vectors  ${formatCount(Math.round(rate))} vectors/s  ETA ${eta === undefined ? '?' : formatDuration(eta)}`;
    if (this.out.isTTY) {
      const percent = f === undefined ? '' : ` ${String(Math.floor(f * 100)).padStart(3)}%`;
      const fixed = `${this.label} []${percent}  ${stats}`;
      const width = Math.max(10, Math.min(40, (this.out.columns ?? 80) - fixed.length - 1));
      const filled = Math.round((f ?? 0) * width);
      this.out.write(`\r\x1b[2K${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}]${percent}  ${stats}`);
      this.drawn = true;
    } else {
      this.out.write(`${this.label}: ${f === undefined ? '' : `${Math.floor(f * 100)}%, `}${stats}\n`);
    }
  }
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** `1 vector`, `5,000 vectors`. */
export function countOf(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? '' : 's'}`;
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}
