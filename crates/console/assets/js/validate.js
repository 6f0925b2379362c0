// Checks that mirror the server's rules for custom actions, so mistakes are shown next to the
// field before anything is sent. The server checks again; its answer is shown if it disagrees.

export const PARAM_TYPES = ['STRING', 'NUMBER', 'BOOLEAN', 'DATE'];

/** Validation formats allowed for each parameter type. */
export const FORMATS_FOR_TYPE = {
  STRING: ['NONE', 'EMAIL', 'URL', 'UUID', 'PASSWORD'],
  NUMBER: ['NONE', 'DECIMAL'],
  BOOLEAN: ['NONE'],
  DATE: ['NONE'],
};

export const FORMAT_LABELS = {
  NONE: 'None',
  EMAIL: 'Email address',
  URL: 'URL',
  UUID: 'UUID',
  PASSWORD: 'Password (hidden)',
  DECIMAL: 'Decimal number',
};

export const ROLE_TYPES = ['Admin', 'ResourceAdmin', 'DomainAdmin', 'User'];

const EMAIL = /^[A-Za-z0-9+_.-]+@[A-Za-z0-9.-]+$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const INTEGER = /^[+-]?[0-9]+$/;
const DECIMAL = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;
const ACTION_NAME = /^[a-zA-Z0-9 _-]+$/;

/** Error text for a custom action name, or null. */
export function checkActionName(v) {
  if (!v) return 'Name is required.';
  if (!ACTION_NAME.test(v)) return 'Use only letters, digits, spaces, "_" and "-".';
  return null;
}

function isUrl(v) {
  try {
    const u = new URL(v);
    return !!u.protocol && u.protocol.length > 1;
  } catch {
    return false;
  }
}

/** Check one STRING value against a validation format; returns error text or null. */
export function checkFormat(format, v) {
  switch (format) {
    case 'EMAIL':
      return EMAIL.test(v) ? null : 'Enter an email address such as name@example.com.';
    case 'URL':
      return isUrl(v) ? null : 'Enter a full URL with its scheme, such as https://example.com/path.';
    case 'UUID':
      return UUID.test(v) ? null : 'Enter a UUID such as 123e4567-e89b-12d3-a456-426614174000.';
    case 'PASSWORD':
      return v.trim() ? null : 'Enter a value.';
    default:
      return null;
  }
}

function numberError(format, v) {
  if (format === 'DECIMAL') return DECIMAL.test(v) ? null : 'Enter a number, such as 2.5.';
  return INTEGER.test(v) ? null : 'Enter a whole number, such as 3.';
}

/**
 * Validate a parameter definition as entered in the editor:
 * {name, type, validationformat, valueoptions (CSV text), required}. Returns error text or null.
 */
export function checkParamDefinition(p) {
  if (!p.name) return 'Every parameter needs a name.';
  if (!PARAM_TYPES.includes(p.type)) return `Choose a type for parameter "${p.name}".`;
  const fmt = p.validationformat || 'NONE';
  if (!FORMATS_FOR_TYPE[p.type].includes(fmt)) {
    return `The format ${FORMAT_LABELS[fmt] || fmt} cannot be used for a ${p.type} parameter.`;
  }
  const options = splitOptions(p.valueoptions);
  if (options.length && !(p.type === 'STRING' || p.type === 'NUMBER')) {
    return `Value options are only possible for STRING and NUMBER parameters ("${p.name}").`;
  }
  for (const o of options) {
    const err = p.type === 'NUMBER' ? numberError(fmt, o) : checkFormat(fmt, o);
    if (err) return `The value option "${o}" of "${p.name}" is not valid: ${err}`;
  }
  return null;
}

/** CSV value options → trimmed, non-empty strings. */
export function splitOptions(v) {
  if (Array.isArray(v)) return v.map((x) => String(x).trim()).filter(Boolean);
  return String(v || '').split(',').map((x) => x.trim()).filter(Boolean);
}

/**
 * Validate a value entered for a parameter when running an action. `raw` is the text (or a
 * boolean for BOOLEAN). Returns error text or null.
 */
export function checkParamValue(p, raw) {
  const blank = raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '');
  if (p.type === 'BOOLEAN') return null;
  if (blank) return p.required ? 'This value is required.' : null;
  const v = String(raw).trim();
  const fmt = p.validationformat || 'NONE';
  const options = splitOptions(p.valueoptions);
  if (p.type === 'NUMBER') {
    const err = numberError(fmt, v);
    if (err) return err;
    if (options.length && !options.some((o) => Number(o) === Number(v))) {
      return `Choose one of: ${options.join(', ')}.`;
    }
    return null;
  }
  if (p.type === 'DATE') {
    return Number.isNaN(new Date(v).getTime()) ? 'Enter a date and time.' : null;
  }
  const err = checkFormat(fmt, v);
  if (err) return err;
  if (options.length && !options.includes(v)) return `Choose one of: ${options.join(', ')}.`;
  return null;
}
