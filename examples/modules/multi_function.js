/* modules/multi_function.js - a module exporting an object of paths:
 * mapped at "/multi/", these answer at /multi/, /multi/index.html,
 * /multi/page1.html, /multi/page2.html and /multi/virtdir/page3.html.
 * Edit this file while the server runs: the next request sees the change.
 */
var visits = 0;   /* module scope: one per server thread */

function page(title, body) {
    return "<html><head><title>" + title + "</title></head><body><h1>" + title +
           "</h1>" + body + "<p><a href='/multi/'>index</a></p></body></html>";
}

function indexpage(req) {
    visits++;
    return { html: page("multi_function index",
        "<ul><li><a href='page1.html'>page 1</a></li>" +
        "<li><a href='page2.html'>page 2</a></li>" +
        "<li><a href='virtdir/page3.html'>page 3 (virtual directory)</a></li></ul>" +
        "<p>visits to this page on this thread: " + visits + "</p>") };
}

function firstpage(req)  { return { html: page("page 1", "<p>the first page</p>") }; }
function secondpage(req) { return { html: page("page 2", "<p>the second page</p>") }; }
function thirdpage(req)  { return { html: page("page 3", "<p>path: " + req.path.path + "</p>") }; }

module.exports = {
    "/": indexpage,
    "/index.html": indexpage,
    "/page1.html": firstpage,
    "/page2.html": secondpage,
    "/virtdir/page3.html": thirdpage
};
