// A counting semaphore: part buffers in flight across every blob of a push, so memory stays at
// (slots x part size) however many blobs upload at once.
export class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly size: number) {}

  async acquire(): Promise<void> {
    if (this.used < this.size) {
      this.used++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** Hands the slot to the next waiter, or frees it. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.used--;
  }
}
