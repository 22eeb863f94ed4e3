export const sourceAliases: { find: RegExp; replacement: string }[];
export const repoRoot: string;
export const sourcePaths: Record<string, string>;
