// Types for scripts/build.mjs, which is plain JavaScript (it runs before anything is compiled).
export declare const ROOT: string;
export declare function distFileOf(source: string, root?: string): string;
export declare function scanSources(root?: string): { files: string[]; newest: number };
export declare function isFresh(root?: string): boolean;
export declare function build(root?: string): Promise<{ files: number }>;
export declare function withBuildLock<T>(fn: () => Promise<T>, root?: string, timeoutMs?: number): Promise<T>;
export declare function ensureBuilt(say?: (line: string) => void, root?: string): Promise<boolean>;
