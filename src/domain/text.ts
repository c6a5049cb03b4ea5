/**
 * Text with no C0 control character and no DEL. Twilio's XML parser would strip or refuse them, and
 * they are never intended in a name, a parameter or a callback's SIPREC fields.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
export const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;
