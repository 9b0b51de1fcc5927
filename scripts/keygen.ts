// `npm run keygen [-- --alg ES256|EdDSA|RS256]`: prints a new token signing key (a private JWK) for
// `wrangler secret put AUTH_SIGNING_KEY`, and its public half for AUTH_VERIFY_KEYS when keys rotate.
import { generateSigningKey } from "./lib/credentials";

async function main(argv: string[]) {
  const i = argv.indexOf("--alg");
  const alg = i >= 0 ? argv[i + 1] : "ES256";
  if (argv.includes("--help") || argv.includes("-h")) {
    console.error("usage: npm run keygen [-- --alg ES256|EdDSA|RS256]");
    return;
  }
  const { privateJwk, publicJwk } = await generateSigningKey(alg);
  process.stdout.write(JSON.stringify(privateJwk) + "\n");
  console.error(`
New ${alg} signing key (kid ${privateJwk.kid}) printed above. It is a secret: store it, do not commit it:
  npm run --silent keygen > key.json   (--silent: npm would write its own banner into the file), then
  npm run deploy -- --signing-key-file key.json   (README "Deploying")
Rotating keys: add the OLD key's public half to AUTH_VERIFY_KEYS (a JSON list) before switching, so tokens
already issued stay valid until they expire. This key's public half (for a later rotation):
  ${JSON.stringify(publicJwk)}`);
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`keygen: ${e.message}`);
  process.exit(1);
});
