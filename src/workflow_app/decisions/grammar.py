"""The FEEL grammar (DMN 1.3–1.5 expressions) for Lark's LALR parser.

Names may contain spaces (``Monthly Salary``): a name is a run of words, and the keywords end it.
The built-in type and function names that contain a keyword (``date and time``, ``years and months duration``,
``days and time duration``) are terminals of their own.
"""

FEEL_GRAMMAR = r"""
?start: expression

?expression: for_expr
    | if_expr
    | quantified
    | function_def
    | disjunction

for_expr: "for" iteration ("," iteration)* "return" expression
iteration: name "in" expression (".." expression)?
if_expr: "if" expression "then" expression "else" expression
quantified: "some" name "in" expression ("," name "in" expression)* "satisfies" expression -> some_
    | "every" name "in" expression ("," name "in" expression)* "satisfies" expression -> every_
function_def: "function" "(" [formal ("," formal)*] ")" external expression
!external: ["external"]
formal: name [":" type]

?disjunction: conjunction
    | disjunction "or" conjunction -> or_

?conjunction: comparison
    | conjunction "and" comparison -> and_

?comparison: additive
    | comparison COMP additive -> compare
    | comparison "between" additive "and" additive -> between
    | comparison "in" "(" in_test ("," in_test)+ ")" -> in_tests
    | comparison "in" in_test -> in_tests
    | comparison "in" "(" COMP additive ")" -> in_cmp_paren
    | comparison INSTANCE_OF type -> instance_of

in_test: additive
    | COMP additive -> cmp_test

?additive: multiplicative
    | additive "+" multiplicative -> add
    | additive "-" multiplicative -> sub

?multiplicative: power
    | multiplicative "*" power -> mul
    | multiplicative "/" power -> div

?power: unary
    | power "**" unary -> pow

?unary: postfix
    | "-" unary -> neg

?postfix: primary
    | postfix "." name -> path
    | postfix "[" expression "]" -> filter
    | postfix "(" ")" -> invoke_none
    | postfix "(" expression ("," expression)* ")" -> invoke
    | postfix "(" named_arg ("," named_arg)* ")" -> invoke_named

named_arg: name ":" expression

?primary: NUMBER -> number
    | STRING -> string
    | "true" -> true
    | "false" -> false
    | "null" -> null
    | "@" STRING -> at_literal
    | name -> var
    | "(" expression ")"
    | "[" [expression ("," expression)*] "]" -> list
    | "{" [entry ("," entry)*] "}" -> context
    | range

entry: (name | STRING) ":" expression

?range: "[" expression ".." expression "]" -> range_cc
    | "[" expression ".." expression ")" -> range_co
    | "[" expression ".." expression "[" -> range_co
    | "(" expression ".." expression "]" -> range_oc
    | "]" expression ".." expression "]" -> range_oc
    | "(" expression ".." expression ")" -> range_oo
    | "(" expression ".." expression "[" -> range_oo
    | "]" expression ".." expression ")" -> range_oo
    | "]" expression ".." expression "[" -> range_oo

type: name [TYPE_ARGS]
    | "function" [TYPE_ARGS] -> function_type

TYPE_ARGS.2: /<(?:[^<>]|<(?:[^<>]|<[^<>]*>)*>)*>(\s*->\s*[\w ]+)?/

name: (NAME | NUMBER_PART)+
    | SPECIAL_NAME

SPECIAL_NAME.3: /date\s+and\s+time\b/ | /years\s+and\s+months\s+duration\b/ | /days\s+and\s+time\s+duration\b/
INSTANCE_OF.3: /instance\s+of\b/
COMP: "<=" | ">=" | "!=" | "<" | ">" | "="
NAME: /[^\s\d"(){}\[\],.:;=<>!+\-*\/@`#$%^&|~\\][^\s"(){}\[\],.:;=<>!+\-*\/@`#$%^&|~\\]*/
NUMBER_PART.-1: /\d+(?![\d.])/
NUMBER: /(\d+(\.\d+)?|\.\d+)([eE][-+]?\d+)?/
STRING: /"(?:[^"\\]|\\.)*"/s

%ignore /\s+/
%ignore /\/\/[^\n]*/
%ignore /\/\*(.|\n)*?\*\//
"""
