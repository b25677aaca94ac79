/**
 * The command line of a bench investigation (bench/investigations/*.ts): `--help` prints its usage
 * and exits; `option("n", "400")` is the value of `--n=…` (everything after the first `=`), else the
 * fallback.
 */
export function commandLine(usage: string): { args: string[]; option(name: string, fallback: string): string } {
  const args = process.argv.slice(2);
  if (args.includes("--help")) {
    console.log(usage);
    process.exit(0);
  }
  const option = (name: string, fallback: string): string => {
    const prefix = `--${name}=`;
    return args.find((arg) => arg.startsWith(prefix))?.slice(prefix.length) ?? fallback;
  };
  return { args, option };
}
