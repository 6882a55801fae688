/* modules/mymod.js - a module exporting one function.  Its local variables
 * stay in scope (unlike a closure in the main script). */
var html = "<pre>HELLO WORLD!</pre>";

module.exports = function (req) {
    return { html: html };
};
