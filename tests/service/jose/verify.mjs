// node verify.mjs JWKS_URL TOKEN ISSUER -> prints the verified claims as JSON (exit 1 on failure)
import { createRemoteJWKSet, jwtVerify } from "jose";

const [jwksUrl, token, issuer] = process.argv.slice(2);
try {
  const jwks = createRemoteJWKSet(new URL(jwksUrl));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer,
    algorithms: ["ES256", "ES384"],
    requiredClaims: ["exp", "iat", "eat_nonce"],
  });
  console.log(JSON.stringify({ header: protectedHeader, claims: payload }));
} catch (error) {
  console.error(`${error.code ?? "error"}: ${error.message}`);
  process.exit(1);
}
