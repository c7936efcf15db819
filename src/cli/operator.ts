export async function run(_args: string[]): Promise<number> {
  console.error('multcall operator: not available in this build');
  return 1;
}
