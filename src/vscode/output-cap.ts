/**
 * Caps command output for a language model or a log: keeps the head and the tail, and says how much was cut.
 * Pure (no `vscode` import). Must never drop the truncation notice: a model must know output is missing.
 */

export interface CappedText {
  text: string;
  /** Characters removed from the middle (0 when nothing was cut). */
  omitted: number;
}

/** Keeps `max` characters: 40% from the start, 60% from the end (errors tend to come last). */
export function capOutput(text: string, max: number): CappedText {
  if (text.length <= max) return { text, omitted: 0 };
  const head = Math.floor(max * 0.4);
  const tail = max - head;
  const omitted = text.length - head - tail;
  const notice = `\n[... ${omitted} characters omitted from the middle; showing the first ${head} and last ${tail} ...]\n`;
  return { text: text.slice(0, head) + notice + text.slice(text.length - tail), omitted };
}

/** Collects a stream's text with a hard memory bound: keeps the first and last `limit` characters. */
export class BoundedText {
  private head = '';
  private tail = '';
  private dropped = 0;

  constructor(private readonly limit: number) {}

  push(chunk: string): void {
    if (this.head.length < this.limit) {
      const room = this.limit - this.head.length;
      this.head += chunk.slice(0, room);
      chunk = chunk.slice(room);
    }
    if (!chunk) return;
    this.tail += chunk;
    if (this.tail.length > this.limit) {
      this.dropped += this.tail.length - this.limit;
      this.tail = this.tail.slice(this.tail.length - this.limit);
    }
  }

  /** The whole text when it fit, otherwise head + a notice + tail. */
  toString(): string {
    if (!this.dropped) return this.head + this.tail;
    return `${this.head}\n[... ${this.dropped} characters omitted from the middle ...]\n${this.tail}`;
  }
}
