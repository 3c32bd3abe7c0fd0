// Placeholder until the 'oci' verb lands; replaced by its owner.
export async function main(_argv: string[]): Promise<number> {
  process.stderr.write("corral: 'oci' is not available yet\n");
  return 2;
}
