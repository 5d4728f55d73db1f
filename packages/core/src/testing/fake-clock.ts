/** A clock tests move by hand. Starts at a fixed UTC instant so day and hour windows are predictable. */
export class FakeClock {
  #now: number;

  constructor(start: number | string = '2026-11-24T10:00:00.000Z') {
    this.#now = typeof start === 'number' ? start : Date.parse(start);
  }

  readonly now = (): number => this.#now;

  advance(ms: number): void {
    this.#now += ms;
  }

  set(at: number | string): void {
    this.#now = typeof at === 'number' ? at : Date.parse(at);
  }
}
