import { renderConfigurationDoc } from './configuration-doc.js';
import { renderErrorsDoc } from './errors-doc.js';

/** The reference pages that come from code, by path in the repository, and what renders each. */
export const GENERATED_PAGES: Readonly<Record<string, () => string>> = {
  'docs/configuration.md': renderConfigurationDoc,
  'docs/errors.md': renderErrorsDoc,
};
