// Prints an anon and a service_role key (HS256 JWTs valid for ten years)
// signed with the secret given as the first argument, as Supabase issues them.
import crypto from 'node:crypto';

const secret = process.argv[2];
if (!secret) {
  console.error('usage: node scripts/keys.mjs <jwt secret>');
  process.exit(2);
}
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = Math.floor(Date.now() / 1000);
const sign = (role) => {
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iss: 'techcare', role, iat: now, exp: now + 10 * 365 * 86400 })}`;
  return `${body}.${crypto.createHmac('sha256', secret).update(body).digest('base64url')}`;
};
console.log(`  ANON_KEY=${sign('anon')}`);
console.log(`  SERVICE_ROLE_KEY=${sign('service_role')}`);
