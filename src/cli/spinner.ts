/** A one-line spinner on a terminal's stderr while a run waits for its slot; nothing when stderr is not a terminal. */
const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export class Spinner {
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly label: string,
  ) {
    if (!out.isTTY) return;
    this.timer = setInterval(() => this.draw(), 80);
    this.draw();
  }

  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.out.write('\r\x1b[K');
  }

  private draw(): void {
    this.out.write(`\r${FRAMES[this.frame++ % FRAMES.length]} runbox: ${this.label}…`);
  }
}
