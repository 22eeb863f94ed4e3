export const sourceAliases: { find: RegExp; replacement: string }[];
export const repoRoot: string;
