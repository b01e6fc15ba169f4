export function precompress(dir: string): Promise<void>
