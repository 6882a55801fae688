/* modules/hello.js - for modulePath: /scripts/hello.html, /scripts/hello.txt,
 * ... all run this file; the key of the return object sets the mime type. */
module.exports = function (req) {
    return { txt: "hello from modules/hello.js, asked for " + req.path.file + "\n" };
};
