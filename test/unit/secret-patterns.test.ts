import t from 'tap';
import { loadRedactor } from '../../common/redaction.js';
import { generateKey } from '../../gateway/auth/keys-file.js';

// The shipped patterns (config/secrets.json), one case each. Secrets are assembled at run time
// so that no scanner mistakes this file for a leak.
const redactor = loadRedactor();
const alnum = (n: number) => 'aB3dE5gH7jK9mN1pQ2sT4vW6yZ8'.repeat(4).slice(0, n);
const join = (...parts: string[]) => parts.join('');

const cases: Array<{ name: string; text: string; secret: string }> = [
  {
    name: 'private_key',
    secret: join('-----BEGIN RSA PRIVATE', ' KEY-----\nMIIEow\n-----END RSA PRIVATE', ' KEY-----'),
    text: 'key:\n%s\nthanks',
  },
  {
    name: 'pgp_private_key',
    secret: join(
      '-----BEGIN PGP PRIVATE',
      ' KEY BLOCK-----\n\nlQOYBGX\n=abcd\n-----END PGP PRIVATE',
      ' KEY BLOCK-----',
    ),
    text: 'my key\n%s\nwhy does gpg refuse it?',
  },
  { name: 'openai_key', secret: join('sk-', 'proj-', alnum(24)), text: 'OPENAI says %s is wrong' },
  { name: 'stripe_key', secret: join('sk_', 'live_', alnum(24)), text: 'stripe.setKey(%s)' },
  { name: 'stripe_key', secret: join('rk_', 'test_', alnum(24)), text: 'restricted %s' },
  {
    name: 'basic_auth',
    secret: join('Authorization: Basic ', Buffer.from('admin:hunter22').toString('base64')),
    text: 'curl -H "%s" https://example.com',
  },
  {
    name: 'basic_auth',
    secret: join('authorization": "Basic ', Buffer.from('u:p4ssw0rd').toString('base64')),
    text: '{"headers": {"%s"}}',
  },
  { name: 'huggingface_token', secret: join('hf_', alnum(34)), text: 'HF_TOKEN is %s' },
  { name: 'gitlab_token', secret: join('glpat-', alnum(20)), text: 'git clone https://gitlab.com with %s' },
  { name: 'npm_token', secret: join('npm_', alnum(36)), text: '//registry.npmjs.org/:_authToken=%s' },
  { name: 'agentbus_key', secret: join('ab-', alnum(22), '_-', alnum(19)), text: 'my agentbus key %s fails' },
  ...Array.from({ length: 20 }, () => ({ name: 'agentbus_key', secret: generateKey(), text: '"%s"' })),
  { name: 'env_secret_assignment', secret: 'DB_PASS="s3cr3t pass"', text: 'in .env:\n%s\nDB_HOST=db' },
  { name: 'env_secret_assignment', secret: "AWS_SECRET_ACCESS_KEY='wJalrXUtnFEMI'", text: 'export %s' },
  { name: 'env_secret_assignment', secret: 'GITHUB_TOKEN: abcd1234', text: 'env:\n  %s' },
  { name: 'password_assignment', secret: 'password: hunter22', text: 'login with %s' },
  { name: 'password_assignment', secret: 'password": "hunter22', text: '{"user": "me", "%s"}' },
  { name: 'bearer_token', secret: join('Bearer ', alnum(24)), text: 'Authorization: %s' },
  { name: 'connection_string_password', secret: 'postgres://app:s3cret@', text: 'DATABASE_URL is %sdb:5432/x' },
  { name: 'connection_string_password', secret: 'postgresql+psycopg://u:pass@', text: 'my_%sh/db' },
  // After a dot, a dash, a plus or a digit too, as the pattern's earlier \b allowed.
  { name: 'connection_string_password', secret: 'postgres://admin:hunter2@', text: '...%sdb' },
  { name: 'connection_string_password', secret: 'redis://u:pass@', text: '1.%sh' },
  { name: 'connection_string_password', secret: 'mysql://root:toor@', text: '+%sh' },
];

for (const { name, secret, text } of cases) {
  t.test(`${name}: ${text.replace('%s', '…')}`, async (t) => {
    const input = text.replace('%s', secret);
    t.ok(redactor.detect(input).includes(name), `detected as ${name}`);
    const redacted = redactor.redact(input);
    t.notOk(redacted.includes(secret), 'the secret is gone');
    t.ok(redacted.includes(`[REDACTED:${name}]`), 'named in the mask');
  });
}

t.test('look-alikes are left alone', async (t) => {
  for (const text of [
    'a basic understanding of regular expressions',
    'pk_live_ is a publishable key prefix',
    'hf_ and npm_ prefixes alone',
    'the ab-test group ab-cd',
    `ab-${alnum(44)} is one character too long for a key`,
    'DB_HOST=localhost and DB_PORT=5432',
    'PASSWORD_MIN_LENGTH = 8',
  ])
    t.same(redactor.detect(text), [], text);
});

// The gateway runs every pattern over every message before publishing: a pattern that backtracks
// over the input from each start (`\b[a-z][a-z0-9+.-]*://` on "a.a.a.…" did) would hold its event
// loop for seconds on one request. These inputs of 600,000 characters take milliseconds with
// linear patterns and many minutes with a quadratic one: the test's timeout catches it.
t.test('no shipped pattern backtracks over long repetitive input', async (t) => {
  const units = [
    'a.',
    '.a',
    '1.',
    '-a',
    '.1a',
    'a-',
    'sk-',
    'A_',
    'a://',
    'x://a:',
    'eyJa.',
    'Bearer ',
    'password=',
    '-----BEGIN ',
    'ab-',
    'a1',
  ];
  for (const unit of units) {
    const text = unit.repeat(Math.ceil(600_000 / unit.length));
    t.ok(Array.isArray(redactor.detect(text)), `"${unit}" × ${text.length / unit.length}`);
    t.equal(typeof redactor.redact(`${text} postgres://u:s3cret@h`), 'string');
  }
});
