/** The memory engines the bench can put the workers' memory on (`--memory`). */
export const MEMORY_ENGINES = ['sqlite', 'postgres'] as const;
export type MemoryEngineName = (typeof MEMORY_ENGINES)[number];

/** How the report names each engine. */
export const ENGINE_LABEL: Record<MemoryEngineName, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL' };
