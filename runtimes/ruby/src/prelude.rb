# polyrun's Ruby prelude: evaluated once per VM, before any user code.
$stdout.sync = true
$stderr.sync = true
require "json"

module Polyrun
  @binding = TOPLEVEL_BINDING
  # The report is made with the generator as it is now: a guest redefining `Hash#to_json` or
  # `JSON.generate` does not change how its outcome is written.
  GENERATE = JSON.method(:generate)
  # Whether this VM's random numbers were seeded (at its first run); a module's own state,
  # since the module is frozen.
  SEEDED = [false]

  # Runs user code in the VM's one top-level binding (so a session keeps its local variables
  # and methods) and reports how it ended to the host as JSON: the engine's `Outcome`.
  def self.run(code, file)
    # A VM may start from a snapshot of one booted once (natively): its random numbers are
    # seeded at its first run, not at its boot.
    unless SEEDED[0]
      SEEDED[0] = true
      Random.srand
    end
    value = eval(code, @binding, file, 1)
    GENERATE.call({ "status" => "completed", "value" => (value.nil? ? nil : { "text/plain" => value.inspect }) })
  rescue SystemExit => e
    if e.status.zero?
      GENERATE.call({ "status" => "completed", "value" => nil })
    else
      report_error("SystemExit", "exit status #{e.status}", nil, [])
    end
  rescue Exception => e # rubocop:disable Lint/RescueException -- the host wants every error
    frames = (e.backtrace_locations || [])
      .select { |l| l.path == file }
      .map { |l| { "function" => l.label, "line" => l.lineno } }
    line = frames.first && frames.first["line"]
    message = e.message.to_s
    if e.is_a?(SyntaxError)
      found = message.match(/#{Regexp.escape(file)}:(\d+)/)
      line ||= found && found[1].to_i
      message = message.sub(/\A#{Regexp.escape(file)}:\d+: /, "")
    end
    report_error(e.class.name, message, line, frames)
  end

  def self.report_error(kind, message, line, frames)
    GENERATE.call({ "status" => "error",
                    "diagnostic" => { "kind" => kind, "message" => message, "line" => line, "frames" => frames } })
  end
  private_class_method :report_error
end

# The polyrun helpers (docs/helpers.md). A call is a line on stderr,
# "\x02polyrun-call:{request JSON}\n"; the host answers it before the write returns, and the
# answer is the next line read from descriptor 0 (through an IO of our own, so that nothing
# buffered in STDIN is in the way).
module Polyrun
  CALL = "\x02polyrun-call:".b.freeze
  @host_in = IO.new(0, "rb", autoclose: false)
  MAX_DEPTH = 128

  def self.plain(value, depth = 0)
    raise TypeError, "cannot convert to JSON: nested more than #{MAX_DEPTH} deep (a cycle?)" if depth > MAX_DEPTH

    case value
    when nil, true, false, Integer then value
    when Float
      raise TypeError, "cannot convert #{value} to JSON (not a finite number)" unless value.finite?

      value
    when String
      raise TypeError, "cannot convert a string that is not UTF-8 text to JSON" unless value.dup.force_encoding(Encoding::UTF_8).valid_encoding?

      value
    when Symbol then value.to_s
    when Array then value.map { |v| plain(v, depth + 1) }
    when Hash
      value.each_with_object({}) do |(k, v), out|
        unless k.is_a?(String) || k.is_a?(Symbol) || k.is_a?(Numeric)
          raise TypeError, "cannot convert a Hash with #{k.class} keys to JSON (keys must be strings)"
        end

        out[k.to_s] = plain(v, depth + 1)
      end
    else
      raise TypeError, "cannot convert #{value.is_a?(Method) || value.is_a?(Proc) ? "a function" : "a #{value.class}"} to JSON"
    end
  end

  def self.call(helper, request)
    request = request.merge("value" => plain(request["value"])) if request.key?("value")
    text = GENERATE.call(request)
    STDERR.write(CALL + text.b + "\n")
    line = +""
    line << @host_in.sysread(1 << 16) until line.end_with?("\n")
    reply = JSON.parse(line.force_encoding(Encoding::UTF_8))
    raise "polyrun.#{helper}: #{reply["error"]}" if reply.key?("error")

    reply["ok"]
  rescue TypeError => e
    raise TypeError, "polyrun.#{helper}: #{e.message}"
  end

  def self.name_of(helper, name)
    raise TypeError, "polyrun.#{helper}: the variable name must be a string" unless name.is_a?(String) || name.is_a?(Symbol)

    name.to_s
  end

  def self.input = call("input", { "op" => "input" })
  def self.event = call("event", { "op" => "event" })

  def self.output(value)
    call("output", { "op" => "output", "value" => value })
    nil
  end

  def self.get_variable(name)
    call("getVariable", { "op" => "get_variable", "name" => name_of("getVariable", name) })
  end

  def self.set_variable(name, value)
    call("setVariable", { "op" => "set_variable", "name" => name_of("setVariable", name), "value" => value })
    nil
  end

  # Atomically replaces a variable with the block's value for the current one (the block may
  # run more than once).
  def self.update_variable(name, &block)
    name = name_of("updateVariable", name)
    loop do
      r = call("updateVariable", { "op" => "read_variable", "name" => name })
      value = block.call(r["value"])
      request = { "op" => "swap_variable", "name" => name, "version" => r["version"], "value" => value }
      return value if call("updateVariable", request)
    end
  end

  class << self
    alias_method :getVariable, :get_variable
    alias_method :setVariable, :set_variable
    alias_method :updateVariable, :update_variable
  end
end

# Guest code cannot redefine the runner or the helpers (FrozenError), so what reports a run's
# outcome stays the prelude's.
Polyrun.freeze

class Object
  private

  # `polyrun.input` reads as in the other languages.
  def polyrun = Polyrun
end
