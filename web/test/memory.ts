// A `KeyValue` (localStorage's shape) in memory, for the stores' tests.
import type { KeyValue } from '../src/store/workspace';

export class Memory implements KeyValue {
  map = new Map<string, string>();
  getItem(k: string) {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.map.set(k, v);
  }
}
