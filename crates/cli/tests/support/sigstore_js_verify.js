// Verifies a Sigstore bundle with @sigstore/verify against a trusted_root.json:
//   node sigstore_js_verify.js NODE_DIR TRUSTED_ROOT BUNDLE ARTIFACT IDENTITY ISSUER
//   node sigstore_js_verify.js NODE_DIR TRUSTED_ROOT BUNDLE ARTIFACT --key PUBLIC_KEY_PEM
// Exit 0 and "verified ..." on success; exit 1 and the error otherwise.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const [nodeDir, rootPath, bundlePath, artifactPath, identity, issuer] = process.argv.slice(2);
const modules = path.join(nodeDir, 'node_modules');
const verify = require(require.resolve('@sigstore/verify', { paths: [modules] }));
// The bundle and protobuf-specs versions @sigstore/verify itself uses.
const verifyDir = path.dirname(require.resolve('@sigstore/verify', { paths: [modules] }));
const sibling = (name) => require(require.resolve(name, { paths: [verifyDir] }));
const { bundleFromJSON } = sibling('@sigstore/bundle');
const { TrustedRoot } = sibling('@sigstore/protobuf-specs');

try {
  const root = TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(rootPath, 'utf8')));
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
  const entity = verify.toSignedEntity(bundle, fs.readFileSync(artifactPath));
  if (identity === '--key') {
    const key = crypto.createPublicKey(fs.readFileSync(issuer));
    const trust = verify.toTrustMaterial(root, () => ({ publicKey: key, validFor: () => true }));
    new verify.Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 }).verify(entity);
    console.log('verified key');
  } else {
    const trust = verify.toTrustMaterial(root);
    const verifier = new verify.Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 });
    const signer = verifier.verify(entity, { subjectAlternativeName: identity, extensions: { issuer } });
    console.log('verified', signer.identity.subjectAlternativeName, signer.identity.extensions.issuer);
  }
} catch (e) {
  console.error(`not verified: ${e.code || ''} ${e.message}`);
  // The whole chain of causes, and the signing times, so that a failure
  // that does not repeat can still be understood from the log.
  for (let cause = e.cause; cause; cause = cause.cause) {
    console.error(`  caused by: ${cause.code || ''} ${cause.message}`);
  }
  try {
    const raw = JSON.parse(fs.readFileSync(bundlePath, 'utf8'));
    const entries = raw.verificationMaterial?.tlogEntries || [];
    console.error(`  integrated times: ${entries.map((t) => t.integratedTime).join(', ')}`);
  } catch (_) {
    // The bundle itself was unreadable: the message above says so.
  }
  process.exit(1);
}
