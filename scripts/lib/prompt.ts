// A hidden terminal prompt, shared by `npm run user` (passwords) and `npm run deploy` (secrets).
/**
 * Asks for one value on the terminal without echoing it (raw mode: nothing is printed as it is typed). One line:
 * every secret fits on one (AUTH_USERS takes its entries separated by spaces, a JWK is one line of JSON). The value
 * is returned as typed: callers decide whether to trim it (a password keeps its spaces).
 */
export function promptHidden(label: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<string> {
  return new Promise((resolve) => {
    output.write(`${label}: `);
    input.setRawMode(true);
    input.resume();
    let value = "";
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString("utf8")) {
        if (ch === "\r" || ch === "\n") {
          input.setRawMode(false);
          input.pause();
          input.off("data", onData);
          output.write("\n");
          return resolve(value);
        }
        if (ch === "\u0003") {
          input.setRawMode(false);
          process.exit(130);
        }
        if (ch === "\u007f") value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.on("data", onData);
  });
}
