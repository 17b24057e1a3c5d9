/**
 * Container image references as the kubelet's runtime parses them: the grammar of
 * github.com/distribution/reference (regexp.go), anchored —
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] path-component ( "/" path-component )*   (at most 255 characters)
 *   domain    := host [ ":" port ]   (host: DNS name, upper case allowed, or a bracketed IPv6)
 *   path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*   (lower case only)
 *   tag       := [\w][\w.-]{0,127}
 *   digest    := algorithm ":" hex{32,}
 * An image the grammar refuses ("Registry/KVGate:1", "kvgate:", "a b") makes a Pod that never
 * pulls (InvalidImageName), found only after `kubectl apply`.
 */
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^(${NAME})(?::${TAG})?(?:@${DIGEST})?$`);

/** The longest name (without tag or digest) the grammar takes. */
const NAME_TOTAL_LENGTH_MAX = 255;

/** True when `s` is an image reference the grammar above takes. */
export function isImageReference(s: string | undefined): boolean {
  if (!s) return false;
  const m = REFERENCE.exec(s);
  return m !== null && m[1].length <= NAME_TOTAL_LENGTH_MAX;
}

/** What an image flag takes, for error messages. */
export const IMAGE_REFERENCE_RULE = '[REGISTRY[:PORT]/]REPOSITORY[:TAG][@DIGEST], the repository in lower case';
