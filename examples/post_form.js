/* post_form.js - Posting Form Data: a form posted to a function that
 * shows req.postData and req.params.
 *
 *   rampart examples/post_form.js       then open http://127.0.0.1:8088/post.html
 *   curl -d 'fname=Joe&lname=Public&go=Submit' http://127.0.0.1:8088/showreq.txt
 */
var server = require("rampart-server");

server.start({
    bind: process.env.BIND || ["[::1]:8088", "127.0.0.1:8088"],
    user: "nobody",
    map: {
        "/post.html": function () {
            var html = '<html><body><form action="/showreq.txt" method="POST">' +
                '<label for="fname">First name:</label><br>' +
                '<input type="text" id="fname" name="fname"><br>' +
                '<label for="lname">Last name:</label><br>' +
                '<input type="text" id="lname" name="lname">' +
                '<input type="submit" name="go">' +
                '</form></body></html>';
            return { html: html };
        },
        "/showreq.txt": function (req) {
            /* convert "body" to text so we can print it out */
            req.body = rampart.utils.bufferToString(req.body);
            return { txt: rampart.utils.sprintf("%3J", req) };
        }
    }
});
