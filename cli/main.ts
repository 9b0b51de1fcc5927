// `skiff` command line: placeholder until push lands.
export async function main(argv: string[]): Promise<number> {
  console.error(`skiff: unknown command ${argv[0] ?? ""}`);
  return 2;
}
