export const chromiumLaunchOptions: { readonly executablePath: string; readonly args: readonly string[] };
