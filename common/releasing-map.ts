/**
 * A Map for short-lived entries in a long-lived table: a request's reply waiter, a call's
 * listener. V8 rehashes a Map's table as entries come and go, and once the Map has reached the
 * old generation the new table is allocated there too; the table left behind keeps pointing at
 * the values it held until the next full collection. Every request that sat in the table at a
 * rehash was then copied by two scavenges and promoted: most of the gateway's young-generation
 * promotion (BENCHMARKS.md, "Garbage collection"). Here the table holds a cell, emptied when its
 * entry goes: what an old table keeps is the key and an empty cell, not the request.
 */
export class ReleasingMap<K, V extends NonNullable<unknown>> {
  readonly #cells = new Map<K, { value: V | undefined }>();

  get size(): number {
    return this.#cells.size;
  }

  get(key: K): V | undefined {
    return this.#cells.get(key)?.value;
  }

  has(key: K): boolean {
    return this.#cells.has(key);
  }

  set(key: K, value: V): this {
    const cell = this.#cells.get(key);
    if (cell) cell.value = value;
    else this.#cells.set(key, { value });
    return this;
  }

  delete(key: K): boolean {
    const cell = this.#cells.get(key);
    if (!cell) return false;
    cell.value = undefined;
    return this.#cells.delete(key);
  }

  /**
   * The values of the entries there now, each skipped if its entry is deleted before the walk
   * reaches it (a listener may remove another); entries added meanwhile are not visited.
   */
  *values(): IterableIterator<V> {
    for (const cell of [...this.#cells.values()]) if (cell.value !== undefined) yield cell.value;
  }

  clear(): void {
    for (const cell of this.#cells.values()) cell.value = undefined;
    this.#cells.clear();
  }
}

/**
 * Short-lived members of a long-lived table (a stream's listener, work in flight), kept as
 * {@link ReleasingMap} keeps its values. Each `add` is a member of its own, removed by the function
 * it returns, so the same listener added twice is two members.
 */
export class ReleasingSet<V extends NonNullable<unknown>> {
  readonly #members = new ReleasingMap<number, V>();
  #lastId = 0;

  get size(): number {
    return this.#members.size;
  }

  add(value: V): () => void {
    const id = ++this.#lastId;
    this.#members.set(id, value);
    return () => void this.#members.delete(id);
  }

  /** As {@link ReleasingMap.values}: members removed before the walk reaches them are skipped. */
  values(): IterableIterator<V> {
    return this.#members.values();
  }
}
